"""mozaik compatibility: its parameter files read without eval, its parameter_search API, its run scripts as tasks."""
