"""The default model: Vogels & Abbott (2005) as one V1 sheet, its protocol and its analysis."""
