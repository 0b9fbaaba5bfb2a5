"""DIMSE (PS3.7): the messages and their command sets (``commands``), status codes (``status``) and
their framing into P-DATA-TF PDUs and back (``framing``).  Sans-IO: nothing here touches a socket."""
