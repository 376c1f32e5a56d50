/*
 * predict_print.h — printing `predict` results from a finished feature file.
 */
#ifndef R50_PREDICT_PRINT_H
#define R50_PREDICT_PRINT_H

/* Prints "path<TAB>class<TAB>prob" for the top-k classes of every done row of the file
 * (dataset order; class names from `labels`, one a line, when given — a line's text
 * after its first word, as Caffe's synset_words.txt "n01440764 tench, Tinca tinca").
 * Returns 0, or 1 after logging an error. Serial: call on one rank. */
int r50_predict_print(const char *h5path, int top, const char *labels);

#endif
