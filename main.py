"""Classic Airbyte entry point: `python main.py spec|check|write ...`."""

from destination_propexo.run import run

if __name__ == "__main__":
    run()
