"""FIX 4.4 order entry: an acceptor (session layer) in front of an OrderEntry.

``wire`` frames and checks messages (BodyLength, CheckSum) and builds them with simplefix;
``session`` is the session layer (logon, heartbeats, sequence numbers, resends, rejects);
``store`` persists a session's sequence numbers and sent messages in the journal;
``orderentry`` is the small protocol the application messages map onto, with an in-process
adapter over the OMS; ``acceptor`` serves it all over TCP. See docs/fix.md.
"""
