"""Boards: bitstreams for open FPGA boards and the UART host link to drive them.

(the frames themselves: hwtrain/protocol/board.py, framing, commands and the board's golden model)
top.py       the board top level (HostLink protocol engine, UartLink, BoardTop)
design.py    configuration -> protocol spec and link (inference core, first trainer, folded trainer
             behind WORDS frames with its golden word engine), the host link's bound
pll.py       ECP5 PLL: divider search and the PLL clock domain of `hwtrain build --clock-mhz`
build.py     `hwtrain build`: board platforms, bitstream, fit and timing checks
host.py      host driver (pyserial or any transport) used by `hwtrain board`
"""
