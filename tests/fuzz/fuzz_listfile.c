/*
 * fuzz_listfile.c — libFuzzer target: the dataset list-file parsers (text and CSV) and
 * the CSV header sniff on arbitrary bytes.
 */
#include <stddef.h>
#include <stdint.h>

#include "dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  r50_dataset ds = {0};
  r50_dataset_parse_list((const char *)data, size, "fuzz.txt", &ds, NULL);
  r50_dataset_free(&ds);
  r50_dataset ds_csv = {0};
  r50_dataset_parse_csv((const char *)data, size, "fuzz.csv", &ds_csv, NULL);
  r50_dataset_free(&ds_csv);
  (void)r50_dataset_csv_header((const char *)data, size);
  return 0;
}
