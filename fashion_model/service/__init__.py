"""`fashion serve`: the HTTP API and the web app over the nightly warehouse's snapshot."""
