/* Compile check: the three implementations in a file that does what
   programs' files do before and after them: <stdnoreturn.h> (which makes
   `noreturn` a macro), macros named like GCC's attributes and printf
   (parx spells every attribute __x__, so none of them is replaced), and,
   with PARX_GPU_VULKAN, <vulkan/vulkan.h> included after parx_gpu.h, which
   must still declare the vk* functions (parx_gpu.h once left
   VK_NO_PROTOTYPES defined behind it). Runs one task on a pool. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdnoreturn.h>
#define format user_format
#define unused user_unused
#define weak user_weak
#define cold user_cold
#define noinline user_noinline
#define always_inline user_always_inline
#define constructor user_constructor
#define printf user_printf

#define PARX_IMPLEMENTATION
#include "parx.h"
#include "parx_shm.h"
#include "parx_gpu.h"
#ifdef PARX_GPU_VULKAN
#include <vulkan/vulkan.h>
#endif

#undef printf

static void set_flag(void *arg)
{
    *(int *)arg = 1;
}

int main(void)
{
#ifdef PARX_GPU_VULKAN
    /* declared (not called: nothing links libvulkan) */
    int vk_declared = sizeof &vkEnumerateInstanceVersion == sizeof(PFN_vkEnumerateInstanceVersion);
#else
    int vk_declared = 1;
#endif
    int ran = 0;
    parx_pool *pool = parx_pool_create(&(parx_pool_desc){.threads = 1});
    if (pool) {
        parx_group g;
        parx_group_init(&g, pool);
        if (parx_spawn(&g, set_flag, &ran) != 0 || parx_wait(&g) != 0) ran = 0;
        parx_pool_destroy(pool);
    }
    printf("1..2\n%s 1 - a one-thread pool runs a task\n", ran ? "ok" : "not ok");
    printf("%s 2 - vulkan.h after parx_gpu.h declares the vk* functions\n",
           vk_declared ? "ok" : "not ok");
    return ran && vk_declared ? 0 : 1;
}
