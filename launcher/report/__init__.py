"""The read side of a sweep: status, the table of single values, figures."""
