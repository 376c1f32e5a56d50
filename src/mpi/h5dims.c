/*
 * h5dims.c — dimension scales (h5dims.h), through HDF5's high-level H5DS API.
 */
#include "h5dims.h"

#include <hdf5_hl.h>
#include <stdio.h>

#include "h5util.h"

hid_t r50_h5_make_dim(hid_t loc, const char *name, int64_t size) {
  hsize_t dims[1] = {(hsize_t)size};
  hid_t space = H5Screate_simple(1, dims, NULL);
  hid_t d = space >= 0 ? H5Dcreate2(loc, name, H5T_IEEE_F32LE, space, H5P_DEFAULT,
                                    H5P_DEFAULT, H5P_DEFAULT)
                       : -1;
  if (space >= 0)
    H5_KEEP_ERROR(H5Sclose(space));
  /* netCDF-4's mark of a dimension without a variable; its size is part of it */
  char mark[96];
  snprintf(mark, sizeof mark,
           "This is a netCDF dimension but not a netCDF variable.%10lld",
           (long long)size);
  if (d >= 0 && H5DSset_scale(d, mark) < 0) {
    H5_KEEP_ERROR(H5Dclose(d));
    return -1;
  }
  return d;
}

herr_t r50_h5_attach_dim(hid_t dset, hid_t dim, unsigned axis) {
  return H5DSattach_scale(dset, dim, axis);
}

herr_t r50_h5_attach_named(hid_t loc, const char *dset, const char *dim, unsigned axis) {
  hid_t d = H5Dopen2(loc, dset, H5P_DEFAULT);
  hid_t s = d >= 0 ? H5Dopen2(loc, dim, H5P_DEFAULT) : -1;
  herr_t r = s >= 0 ? H5DSattach_scale(d, s, axis) : -1;
  if (s >= 0)
    H5_KEEP_ERROR(H5Dclose(s));
  if (d >= 0)
    H5_KEEP_ERROR(H5Dclose(d));
  return r;
}
