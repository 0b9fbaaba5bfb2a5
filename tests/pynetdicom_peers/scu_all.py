"""A pynetdicom SCU that exercises every C- and N-service against a Courier SCP (interop tests only).

Usage: scu_all.py PORT CALLED_AET MOVE_DEST_AET
Prints one JSON line per service with what pynetdicom got back.
"""

from __future__ import annotations

import json
import sys

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, build_role, evt
from pynetdicom import sop_class as sop

PORT, CALLED, DEST = int(sys.argv[1]), sys.argv[2], sys.argv[3]
received: list[str] = []


def say(service: str, **data: object) -> None:
    print(json.dumps({"service": service, **data}), flush=True)


def status_of(ds: Dataset | None) -> int | None:
    return int(ds.Status) if ds is not None and "Status" in ds else None


def on_store(event):
    received.append(str(event.dataset.SOPInstanceUID))
    return 0x0000


ae = AE(ae_title="PYNETSCU")
for uid in (
    sop.Verification,
    sop.CTImageStorage,
    sop.StudyRootQueryRetrieveInformationModelFind,
    sop.PatientRootQueryRetrieveInformationModelFind,
    sop.ModalityWorklistInformationFind,
    sop.StudyRootQueryRetrieveInformationModelGet,
    sop.StudyRootQueryRetrieveInformationModelMove,
    sop.Printer,
    sop.ModalityPerformedProcedureStep,
    sop.StorageCommitmentPushModel,
    sop.BasicFilmSession,
):
    ae.add_requested_context(uid, [ImplicitVRLittleEndian, ExplicitVRLittleEndian])
assoc = ae.associate(
    "127.0.0.1",
    PORT,
    ae_title=CALLED,
    ext_neg=[build_role(sop.CTImageStorage, scu_role=True, scp_role=True)],
    evt_handlers=[(evt.EVT_C_STORE, on_store)],
)
if not assoc.is_established:
    say("ASSOCIATE", ok=False)
    sys.exit(1)


def run() -> None:
    say("C-ECHO", status=status_of(assoc.send_c_echo()))

    ct = Dataset()
    ct.SOPClassUID = sop.CTImageStorage
    ct.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.650.1"
    ct.PatientID = "FROMPYN"
    ct.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.650"
    ct.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.650.1.1"
    ct.Modality = "CT"
    ct.file_meta = FileMetaDataset()
    ct.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    say("C-STORE", status=status_of(assoc.send_c_store(ct)))

    for model, name in (
        (sop.StudyRootQueryRetrieveInformationModelFind, "study"),
        (sop.PatientRootQueryRetrieveInformationModelFind, "patient"),
        (sop.ModalityWorklistInformationFind, "worklist"),
    ):
        query = Dataset()
        if name != "worklist":
            query.QueryRetrieveLevel = "STUDY" if name == "study" else "PATIENT"
        query.PatientID = "*"
        results = [
            (status_of(s), str(i.PatientID) if i is not None and "PatientID" in i else None)
            for s, i in assoc.send_c_find(query, model)
        ]
        say("C-FIND", model=name, results=results)

    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = "SLOW"
    statuses = []
    for n, (status, _identifier) in enumerate(
        assoc.send_c_find(query, sop.StudyRootQueryRetrieveInformationModelFind, msg_id=77)
    ):
        statuses.append(status_of(status))
        if n == 0:
            assoc.send_c_cancel(77, query_model=sop.StudyRootQueryRetrieveInformationModelFind)
    say("C-CANCEL", statuses=statuses)

    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.660"
    say(
        "C-GET",
        statuses=[
            status_of(s) for s, _ in assoc.send_c_get(query, sop.StudyRootQueryRetrieveInformationModelGet)
        ],
        received=sorted(received),
    )
    say(
        "C-MOVE",
        statuses=[
            status_of(s)
            for s, _ in assoc.send_c_move(query, DEST, sop.StudyRootQueryRetrieveInformationModelMove)
        ],
    )

    status, reply = assoc.send_n_get([0x21100010], sop.Printer, "1.2.840.10008.5.1.1.17")
    say("N-GET", status=status_of(status), printer=str(reply.PrinterName) if reply is not None else None)
    attributes = Dataset()
    attributes.PerformedProcedureStepStatus = "IN PROGRESS"
    status, reply = assoc.send_n_create(
        attributes, sop.ModalityPerformedProcedureStep, "1.2.826.0.1.3680043.8.498.670"
    )
    say(
        "N-CREATE",
        status=status_of(status),
        reply=str(reply.get("PerformedProcedureStepStatus", "")) if reply is not None else None,
    )
    changes = Dataset()
    changes.PerformedProcedureStepStatus = "COMPLETED"
    status, reply = assoc.send_n_set(
        changes, sop.ModalityPerformedProcedureStep, "1.2.826.0.1.3680043.8.498.670"
    )
    say("N-SET", status=status_of(status))
    action = Dataset()
    action.TransactionUID = "1.2.826.0.1.3680043.8.498.680"
    status, reply = assoc.send_n_action(action, 1, sop.StorageCommitmentPushModel, "1.2.840.10008.1.20.1.1")
    say(
        "N-ACTION",
        status=status_of(status),
        transaction=str(reply.get("TransactionUID", "")) if reply is not None else None,
    )
    report = Dataset()
    report.TransactionUID = "1.2.826.0.1.3680043.8.498.680"
    status, reply = assoc.send_n_event_report(
        report, 1, sop.StorageCommitmentPushModel, "1.2.840.10008.1.20.1.1"
    )
    say("N-EVENT-REPORT", status=status_of(status))
    status = assoc.send_n_delete(sop.BasicFilmSession, "1.2.826.0.1.3680043.8.498.690")
    say("N-DELETE", status=status_of(status))


try:
    run()
    assoc.release()
except BaseException:
    assoc.abort()  # never leave the association (and this process) hanging
    raise
