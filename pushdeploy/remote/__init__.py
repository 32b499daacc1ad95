"""What runs on a server, as text, and the typed read-back of what it says; pure."""
