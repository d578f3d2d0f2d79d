"""The shipped drill scenarios (YAML); ``hazwatch simulate NAME`` finds them by file stem."""
