#!/usr/bin/env python3
"""Reads CXReview's DICOM results with pydicom, an independent reader, and checks them against their source.

For each result file given: the Patient's Name and the General Study attributes decode (with the declared
Specific Character Set) to exactly the source's, and a UTF-8 source's results declare ISO_IR 192.

    swift run cxreview classify Tests/Fixtures/dicom/dx_utf8_patient.dcm --report /tmp/r --dicom-out /tmp/d
    /root/.cache/cxr-fixtures-venv/bin/python Tests/Fixtures/check_dicom_results.py \\
        Tests/Fixtures/dicom/dx_utf8_patient.dcm /tmp/d/*.dcm
"""
import sys

import pydicom

STUDY = ["PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
         "StudyTime", "AccessionNumber", "StudyID", "ReferringPhysicianName", "StudyDescription"]


def main(source_path, results):
    source = pydicom.dcmread(source_path, stop_before_pixels=True)
    failures = 0
    for path in results:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        for keyword in STUDY:
            want, got = str(source.get(keyword, "")), str(ds.get(keyword, ""))
            if want != got:
                print(f"{path}: {keyword} {got!r} != source {want!r}")
                failures += 1
        if source.get("SpecificCharacterSet") == "ISO_IR 192" and ds.get("SpecificCharacterSet") != "ISO_IR 192":
            print(f"{path}: Specific Character Set {ds.get('SpecificCharacterSet')!r}, the source's is ISO_IR 192")
            failures += 1
        print(f"{path}: {ds.SOPClassUID.name}, PatientName {str(ds.PatientName)!r}, "
              f"SpecificCharacterSet {ds.get('SpecificCharacterSet')!r}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
