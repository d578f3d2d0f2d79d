"""HTTP: the API, the duty console, the event stream."""
