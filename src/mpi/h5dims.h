/*
 * h5dims.h — HDF5 dimension scales as netCDF-4 writes them, so that netCDF readers
 * (xarray through h5netcdf, netCDF-C) open a file with named dimensions.
 *
 * Rule: a dimension is a scale dataset that holds no data (netCDF's "dimension but not
 * a variable": never written, so it takes no space), named by its dataset's name and
 * visible to the datasets of its group and the groups below.
 */
#ifndef R50_H5DIMS_H
#define R50_H5DIMS_H

#include <hdf5.h>
#include <stdint.h>

/* Creates the dimension `name` of `size` in loc; its handle, or < 0. */
hid_t r50_h5_make_dim(hid_t loc, const char *name, int64_t size);

/* Attaches dimension `dim` to axis `axis` of dataset `dset`. */
herr_t r50_h5_attach_dim(hid_t dset, hid_t dim, unsigned axis);

/* Attaches the dimension named `dim` (a path from loc) to axis `axis` of the dataset
 * named `dset` (a path from loc). */
herr_t r50_h5_attach_named(hid_t loc, const char *dset, const char *dim, unsigned axis);

#endif
