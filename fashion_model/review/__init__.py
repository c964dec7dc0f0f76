"""The review loop: uncertain predictions to people (Label Studio) and their answers back."""
