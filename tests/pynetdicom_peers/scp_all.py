"""A pynetdicom SCP for every C- and N-service, for interop tests (never imported by Courier).

Usage: scp_all.py PORT MOVE_DEST_PORT LOG
It logs one JSON line per request it handled to LOG (service and what it received) and answers with
data the tests check: 3 CT instances for C-GET/C-MOVE, 2 matches per C-FIND, fixed N-service replies.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ImplicitVRLittleEndian
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, StoragePresentationContexts, evt
from pynetdicom import sop_class as sop

logging.basicConfig(level=logging.WARNING)
PORT, DEST_PORT, LOG = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
STUDY = "1.2.826.0.1.3680043.8.498.600"


def log(service: str, **data: object) -> None:
    with open(LOG, "a") as out:
        out.write(json.dumps({"service": service, **data}) + "\n")


def ct(n: int) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop.CTImageStorage
    ds.SOPInstanceUID = f"{STUDY}.1.{n}"
    ds.StudyInstanceUID = STUDY
    ds.SeriesInstanceUID = STUDY + ".1"
    ds.PatientID = "PYN1"
    ds.PatientName = "PYNET^DICOM"
    ds.Modality = "CT"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    return ds


def on_echo(event):
    log("C-ECHO", calling=event.assoc.requestor.ae_title)
    return 0x0000


def on_store(event):
    log("C-STORE", uid=str(event.dataset.SOPInstanceUID))
    return 0x0000


def on_find(event):
    identifier = event.identifier
    log(
        "C-FIND",
        sop_class=str(event.request.AffectedSOPClassUID),
        level=str(identifier.get("QueryRetrieveLevel", "")),
    )
    for n in range(2):
        if event.is_cancelled:
            log("C-CANCEL")
            yield 0xFE00, None
            return
        match = Dataset()
        match.QueryRetrieveLevel = identifier.get("QueryRetrieveLevel", "")
        match.PatientID = f"PYN{n}"
        match.ScheduledProcedureStepSequence = [] if "ScheduledProcedureStepSequence" in identifier else None
        if match.ScheduledProcedureStepSequence is None:
            del match.ScheduledProcedureStepSequence
        yield 0xFF00, match
        if identifier.get("PatientID") == "SLOW":
            time.sleep(1.0)  # a slow PACS, so that a C-CANCEL arrives between matches


def on_get(event):
    log("C-GET", level=str(event.identifier.QueryRetrieveLevel))
    yield 3
    for n in range(3):
        yield 0xFF00, ct(n)


def on_move(event):
    log(
        "C-MOVE",
        destination=event.move_destination.decode().strip()
        if isinstance(event.move_destination, bytes)
        else str(event.move_destination),
    )
    yield "127.0.0.1", DEST_PORT
    yield 3
    for n in range(3):
        yield 0xFF00, ct(n)


def on_n_get(event):
    tags = event.request.AttributeIdentifierList or []
    tags = [tags] if isinstance(tags, int) else tags  # pydicom gives a single tag, not a list of one
    log("N-GET", instance=str(event.request.RequestedSOPInstanceUID), attributes=[int(t) for t in tags])
    ds = Dataset()
    ds.PrinterStatus = "NORMAL"
    ds.PrinterName = "PYNETDICOM"
    return 0x0000, ds


def on_n_set(event):
    log(
        "N-SET",
        instance=str(event.request.RequestedSOPInstanceUID),
        status=str(event.modification_list.get("PerformedProcedureStepStatus", "")),
    )
    return 0x0000, event.modification_list


def on_n_action(event):
    log("N-ACTION", action_type=int(event.action_type))
    reply = Dataset()
    reply.TransactionUID = event.action_information.get("TransactionUID", "")
    return 0x0000, reply


def on_n_create(event):
    log(
        "N-CREATE",
        instance=str(event.request.AffectedSOPInstanceUID),
        status=str(event.attribute_list.get("PerformedProcedureStepStatus", "")),
    )
    return 0x0000, event.attribute_list


def on_n_delete(event):
    log("N-DELETE", instance=str(event.request.RequestedSOPInstanceUID))
    return 0x0000


def on_n_event_report(event):
    log(
        "N-EVENT-REPORT",
        event_type=int(event.event_type),
        transaction=str(event.event_information.get("TransactionUID", "")),
    )
    return 0x0000, None


ae = AE(ae_title="PYNETDICOM")
ae.maximum_pdu_size = 16384
for context in StoragePresentationContexts:
    # Role selection accepted both ways: a C-GET requestor takes the SCP role for the sub-operations.
    ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES, scu_role=True, scp_role=True)
for uid in (
    sop.Verification,
    sop.PatientRootQueryRetrieveInformationModelFind,
    sop.StudyRootQueryRetrieveInformationModelFind,
    sop.ModalityWorklistInformationFind,
    sop.PatientRootQueryRetrieveInformationModelGet,
    sop.StudyRootQueryRetrieveInformationModelGet,
    sop.PatientRootQueryRetrieveInformationModelMove,
    sop.StudyRootQueryRetrieveInformationModelMove,
    sop.Printer,
    sop.ModalityPerformedProcedureStep,
    sop.StorageCommitmentPushModel,
    sop.BasicFilmSession,
):
    ae.add_supported_context(uid, ALL_TRANSFER_SYNTAXES)
for context in StoragePresentationContexts:
    ae.add_requested_context(context.abstract_syntax)  # the C-MOVE sub-association
handlers = [
    (evt.EVT_C_ECHO, on_echo),
    (evt.EVT_C_STORE, on_store),
    (evt.EVT_C_FIND, on_find),
    (evt.EVT_C_GET, on_get),
    (evt.EVT_C_MOVE, on_move),
    (evt.EVT_N_GET, on_n_get),
    (evt.EVT_N_SET, on_n_set),
    (evt.EVT_N_ACTION, on_n_action),
    (evt.EVT_N_CREATE, on_n_create),
    (evt.EVT_N_DELETE, on_n_delete),
    (evt.EVT_N_EVENT_REPORT, on_n_event_report),
]
ae.start_server(("127.0.0.1", PORT), block=True, evt_handlers=handlers)
