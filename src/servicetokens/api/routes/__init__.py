"""One module per resource; handlers parse, call the service, shape the response."""
