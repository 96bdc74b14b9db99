// fdatasync after a 420-byte pwrite, N times, in DIRECTORY, in one of four kinds of space:
//  append     : each write extends the file (a size change for every sync)
//  zeroed     : space written with zeros and fsynced beforehand (what the queue prepares)
//  fallocated : space reserved with fallocate(0) (unwritten extents, size already set)
//  keepsize   : space past EOF reserved with fallocate(FALLOC_FL_KEEP_SIZE)
//
//   cc -O2 -o .build/fdatasync-modes bench/fdatasync-modes.c && .build/fdatasync-modes DIRECTORY MODE [N]
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static long long now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1000000000LL+t.tv_nsec;}
static int cmp(const void*a,const void*b){long long x=*(long long*)a,y=*(long long*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){
  const char*dir=argv[1]; const char*mode=argv[2]; int n=argc>3?atoi(argv[3]):2000;
  char path[4096]; snprintf(path,sizeof path,"%s/syncprobe-%s",dir,mode);
  int fd=open(path,O_RDWR|O_CREAT|O_TRUNC,0600); if(fd<0){perror("open");return 1;}
  size_t space=4<<20; char rec[420]; memset(rec,'x',sizeof rec);
  if(!strcmp(mode,"zeroed")){char*z=calloc(1,space); pwrite(fd,z,space,0); fsync(fd); free(z);}
  else if(!strcmp(mode,"fallocated")){ if(fallocate(fd,0,0,space)){perror("fallocate");return 1;} fsync(fd);}
  else if(!strcmp(mode,"keepsize")){ if(fallocate(fd,FALLOC_FL_KEEP_SIZE,0,space)){perror("fallocate");return 1;} fsync(fd);}
  else if(strcmp(mode,"append")){fprintf(stderr,"mode?\n");return 2;}
  long long*t=malloc(n*sizeof*t);
  for(int i=0;i<n;i++){ pwrite(fd,rec,sizeof rec,(off_t)i*sizeof rec); long long s=now(); fdatasync(fd); t[i]=now()-s; }
  qsort(t,n,sizeof*t,cmp);
  printf("%-10s n=%d p50 %.3f p90 %.3f p99 %.3f ms\n",mode,n,t[n/2]/1e6,t[n*9/10]/1e6,t[n*99/100]/1e6);
  close(fd); unlink(path); return 0;}
