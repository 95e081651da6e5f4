"""`seedance`: the command line client of the Seedance video pipeline's HTTP API.

`client` speaks the API (httpx, SigV4 or a bearer token), `commands` is the typer app on top of it,
`render` shapes what a person or a script reads. Nothing here imports the pipeline's own code: the
wheel holds this package alone.
"""
