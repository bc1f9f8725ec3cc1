// libjpeg-turbo 2.1 through the classic libjpeg API (Debian libjpeg62-turbo-dev).
// jpeglib.h needs size_t and FILE declared before it is included.
#include <stddef.h>
#include <stdio.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h>
