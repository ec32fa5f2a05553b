/* Test-only, for running the Windows build under Wine 8.0 (cargo xtask test): Rust's std on
   Windows imports bcryptprimitives.dll!ProcessPrng, which Windows 10 and 11 have and Wine 8.0
   does not. This DLL forwards it to advapi32's RtlGenRandom (SystemFunction036). It is copied
   into a throwaway Wine prefix only; it is never built into anything shipped. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
