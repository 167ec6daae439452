"""Understanding: what the customer said, as typed data. It never decides what the business allows."""
