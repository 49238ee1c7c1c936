"""Drop-in classes that put the lockout service in front of each credential check."""
