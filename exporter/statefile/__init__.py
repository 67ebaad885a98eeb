"""The state file: counts and sync positions kept across restarts."""
