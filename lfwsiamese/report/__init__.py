"""The book's library: a thin, read-only layer over the records in results/.

One module per chapter returns DataFrames and figures; `records`, `stats` and `tables` are shared. Nothing here
trains and nothing here writes prose: the chapters' sentences are written by hand in their `.md` files.
"""
