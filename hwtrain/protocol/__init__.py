"""Command words and frames, defined once for hardware, host drivers and benches.

board.py    the UART host link: framing, CRC, commands and the board's golden model
trainer.py  the OnlineTrainer's command/response words and registers

Above the golden models, below the hardware: ``hdl`` builds the engines from these
definitions and the host drivers speak them, so neither imports the other.
"""
