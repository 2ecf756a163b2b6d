/* Stand-in for the Apple SDK's TargetConditionals.h, for `cargo xtask check-platforms` only.
 * There is no macOS SDK on the Linux CI machine; ring's C code includes this header on Apple
 * targets to learn which Apple OS it is built for. The objects built with it are never linked.
 * Values: macOS on Apple silicon. See ../README.md. */
#ifndef ROTA_STUB_TARGETCONDITIONALS_H
#define ROTA_STUB_TARGETCONDITIONALS_H
#define TARGET_OS_MAC 1
#define TARGET_OS_OSX 1
#define TARGET_OS_IPHONE 0
#define TARGET_OS_IOS 0
#define TARGET_OS_TV 0
#define TARGET_OS_WATCH 0
#define TARGET_OS_VISION 0
#define TARGET_OS_SIMULATOR 0
#define TARGET_CPU_ARM64 1
#define TARGET_CPU_X86_64 0
#endif
