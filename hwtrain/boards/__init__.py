"""Boards: bitstreams for open FPGA boards and the UART host link to drive them.

(the frames themselves: hwtrain/protocol/board.py, framing, commands and the board's golden model)
top.py       the board top level (HostLink protocol engine, UartLink, BoardTop)
design.py    inference configuration -> protocol spec and link
build.py     `hwtrain build`: board platforms, bitstream, fit and timing checks
host.py      host driver (pyserial or any transport) used by `hwtrain board`
"""
