/*
 * version.c — r50_version: the project's version, given by the build (CMake's
 * project() VERSION) and nowhere else.
 */
#include "r50.h"

#ifndef R50_VERSION_STRING
#error "R50_VERSION_STRING is set by the build from project(VERSION)"
#endif

const char *r50_version(void) {
  return R50_VERSION_STRING;
}
