#include <cstdio>
int main() {
  std::fprintf(stderr, "mailtap: the query client is not implemented yet\n");
  return 1;
}
