/* Pure C interface to the DCMTK shim: filled in by the commits that follow. */
#ifndef CDCMTK_H
#define CDCMTK_H
#endif
