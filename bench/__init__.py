"""Side-by-side benchmark of Courier's DICOM engine against DCMTK and pynetdicom (``python -m bench.run``)."""
