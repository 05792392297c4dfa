"""Pure domain models and events. Imports nothing from the rest of the package."""
