"""Task definitions on Taskiq, the broker choice, and the periodic recovery sweep."""
