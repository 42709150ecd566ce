from agent.cli.main import app

app()
