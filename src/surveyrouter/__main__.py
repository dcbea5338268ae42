from surveyrouter.cli import app

app(prog_name="surveyrouter")
