#include "test.h"
int main(void) { fprintf(stderr, "test not written yet\n"); return 1; }
