"""`python -m rugpt_chitchat.cli` (what `accelerate launch -m` runs) is the `rugpt-chitchat` command."""

from . import main

main()
