from carealloc.cli import app

app()
