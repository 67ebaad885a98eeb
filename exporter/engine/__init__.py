"""The counting state of each run kind, pure: no I/O, no clock it was not given."""
