#!/usr/bin/env python3
"""Makes the source fixtures of DICOMResultsTests: DX images whose patient and study text is not ASCII.

Both start from dicom/highdicom_dx_image.dcm (a DX made by highdicom; see dicom/SOURCES.md) and change only
header text, with pydicom (which encodes each value in the declared Specific Character Set):

    dicom/dx_utf8_patient.dcm    Specific Character Set ISO_IR 192 (UTF-8); Patient's Name "Иванов^Пётр"
                                 (Cyrillic: no Latin-1 encoding exists), Referring Physician "Øster^Åse",
                                 Study Description "Грудная клетка". The results must keep these bytes and
                                 declare ISO_IR 192, never ISO_IR 100.
    dicom/dx_latin1_patient.dcm  Specific Character Set ISO_IR 100 (Latin-1); Patient's Name "Müller^Jürgen",
                                 Study Description "Thorax p.a. Übersicht". Copied as stored when the results'
                                 own text is ASCII; converted to UTF-8 (and declared ISO_IR 192) when it is not.

    dicom/dx_no_study.dcm        the same DX without Study Instance UID: a DICOM object that belongs to no study,
                                 which the results must refuse with a clear error.

The first two keep the source's StudyInstanceUID, StudyDate, StudyTime, AccessionNumber and StudyID, and get a
StudyID/AccessionNumber of their own so the copies can be told apart from the original.

Run with the fixtures venv (pydicom 3):
    /root/.cache/cxr-fixtures-venv/bin/python Tests/Fixtures/make_dicom_results_fixtures.py
"""
import os

import pydicom

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "dicom", "highdicom_dx_image.dcm")


def make(name, charset, patient, referring, description, uid_suffix):
    ds = pydicom.dcmread(SOURCE)
    ds.SpecificCharacterSet = charset
    ds.PatientName = patient
    ds.ReferringPhysicianName = referring
    ds.StudyDescription = description
    ds.AccessionNumber = "ACC" + uid_suffix
    ds.StudyID = "S" + uid_suffix
    # A study and instance of their own, so that a test run never mixes them with the original fixture.
    ds.StudyInstanceUID = ds.StudyInstanceUID[:50] + "." + uid_suffix
    ds.SOPInstanceUID = ds.SOPInstanceUID[:50] + "." + uid_suffix
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    out = os.path.join(HERE, "dicom", name)
    ds.save_as(out, enforce_file_format=True)
    check = pydicom.dcmread(out)
    assert str(check.PatientName) == patient, (check.PatientName, patient)
    print(f"{name}: {os.path.getsize(out)} bytes, PatientName {patient!r} as {charset}")


def make_no_study():
    ds = pydicom.dcmread(SOURCE)
    del ds.StudyInstanceUID
    out = os.path.join(HERE, "dicom", "dx_no_study.dcm")
    ds.save_as(out, enforce_file_format=True)
    print(f"dx_no_study.dcm: {os.path.getsize(out)} bytes, no StudyInstanceUID")


make("dx_utf8_patient.dcm", "ISO_IR 192", "Иванов^Пётр", "Øster^Åse", "Грудная клетка", "192")
make("dx_latin1_patient.dcm", "ISO_IR 100", "Müller^Jürgen", "Øster^Åse", "Thorax p.a. Übersicht", "100")
make_no_study()
