"""What the user sees: consoles (data to stdout, chatter to stderr), tables and views."""
