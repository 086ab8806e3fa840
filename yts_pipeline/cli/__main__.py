from yts_pipeline.cli.main import run

run()
