"""evaluate room."""
