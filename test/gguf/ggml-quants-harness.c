// Test harness (test/gguf/quant-32.test.ts): llama.cpp's reference quantizers from ggml-quants.c, compiled from a
// llama.cpp checkout given by LLAMA_CPP_SRC. stdin: float32 values; argv[1]: type; stdout: the quantized bytes.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ggml-quants.h"
#include "ggml-common.h"

int main(int argc, char**argv){
  static float x[1<<22]; size_t n = fread(x,4,1<<22,stdin);
  static unsigned char out[1<<24]; size_t bytes=0;
  const char*t=argv[1];
  if(!strcmp(t,"q4_1")){quantize_row_q4_1_ref(x,(void*)out,n); bytes=n/32*20;}
  if(!strcmp(t,"q5_0")){quantize_row_q5_0_ref(x,(void*)out,n); bytes=n/32*22;}
  if(!strcmp(t,"q5_1")){quantize_row_q5_1_ref(x,(void*)out,n); bytes=n/32*24;}
  if(!strcmp(t,"iq4_nl_ref")){quantize_row_iq4_nl_ref(x,(void*)out,n); bytes=n/32*18;}
  if(!strcmp(t,"iq4_nl")){quantize_iq4_nl(x,(void*)out,n/32/1, 32, NULL); bytes=n/32*18;}
  fwrite(out,1,bytes,stdout); return 0;
}

// ggml.c symbols ggml-quants.c links against, unused by these functions.
void ggml_abort(const char * file, int line, const char * fmt, ...) { (void)file; (void)line; (void)fmt; abort(); }
size_t ggml_row_size(enum ggml_type type, int64_t n) { (void)type; (void)n; abort(); }
const char * ggml_type_name(enum ggml_type type) { (void)type; return ""; }
size_t ggml_type_size(enum ggml_type type) { (void)type; abort(); }
