/*
 * predict_print.h — printing `predict` results from a finished feature file.
 */
#ifndef R50_PREDICT_PRINT_H
#define R50_PREDICT_PRINT_H

/* Prints "path<TAB>class<TAB>prob" for the top-k classes of every done row of the file
 * (dataset order; class names from `labels`, one a line, when given — a line's text
 * after its first word, as Caffe's synset_words.txt "n01440764 tench, Tinca tinca").
 * Where the images carry classes, logs the accuracy (predict_score.h) and, when
 * keep_score (the user's -o file, not a scratch one), keeps it in the file's root
 * attributes accuracy_top1, accuracy_top5, accuracy_images and accuracy_labels.
 * Returns 0, or 1 after logging an error. Serial: call on one rank. */
int r50_predict_print(const char *h5path, int top, const char *labels, int keep_score);

#endif
