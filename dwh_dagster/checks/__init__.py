"""Data-quality checks at run time: the SQL of each check and its evaluation in a destination."""
