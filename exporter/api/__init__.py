"""Talking to the Extend API: the HTTP client, its request budget, the API key and the workspace identity."""
