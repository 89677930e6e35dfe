/* fvparam: the image parameterisations of feature visualisation (Olah et
 * al., Distill 2017; Lucid's image.py and Lucent's param/spatial.py,
 * param/color.py), forward and backward.
 *
 * An image of C channels, H x W, is made from a parameter vector p:
 *
 *   pixel  p is C x H x W; the basis image is p itself.
 *   fft    p is C x H x (W/2+1) x 2 (real, imaginary) spectrum
 *          coefficients; each is multiplied by 1/max(f, 1/max(H,W)) (decay
 *          power 1; f = sqrt(fy^2 + fx^2) with fy, fx numpy.fft.fftfreq's
 *          frequencies) and the basis image is the orthonormal inverse
 *          real DFT (numpy.fft.irfft2 with norm="ortho", size H x W) of the
 *          scaled spectrum divided by 4 (Lucid's "magic" constant). The
 *          imaginary parts of the columns fx = 0 and fx = 1/2 (even W)
 *          do not reach the image, as in irfft2.
 *
 * Then, with decorrelate (3 channels), each pixel's colour vector is
 * multiplied by the colour matrix M (rgb = M b), and the image is
 * sigmoid(.) of that, so always in (0,1). A "pixel" parameterisation
 * without decorrelation is the plain one of the Yosinski path (pixels are
 * the parameters, clamped by the caller), not handled here.
 *
 * The default M is Lucid's color_correlation_svd_sqrt of ImageNet,
 * [[0.26,0.09,0.02],[0.27,0.00,-0.05],[0.27,-0.09,0.03]], divided by its
 * largest column norm. fv_colour_stats computes the same kind of matrix
 * from images: U sqrt(Lambda) of the 3 x 3 covariance of their pixels
 * (eigenvalues descending, each column's sign making its sum >= 0),
 * divided by its largest column norm. The DFTs are O(N log N) for every
 * size: mixed-radix Cooley-Tukey when N's prime factors are at most 7
 * (224 = 2^5 7), Bluestein's chirp-z through a power of two otherwise;
 * all the columns go through one batched DFT (vectorised across them),
 * then the rows, two real rows to a complex DFT, the batches split among
 * the OpenMP threads (the result does not depend on their number). */
#ifndef CNN_FVPARAM_H
#define CNN_FVPARAM_H

#include <stdint.h>

typedef struct fvfft fvfft;

#define FV_MAXWORK 16

typedef struct fvparam {
    int64_t C, H, W, Wf;       /* Wf = W/2 + 1 */
    int fft, decorrelate;
    double M[3][3];
    double *scale;             /* H x Wf: the 1/f factor / 4 / sqrt(H W) */
    struct fvfft *ph, *pw;     /* DFT plans of lengths H and W */
    int64_t B2;                /* ceil(C H / 2): the rows' DFTs, two rows each */
    double *Xr, *Xi;           /* H x C Wf work: the columns' DFTs */
    double *Zr, *Zi;           /* W x B2 work: the rows' DFTs */
    int nwork;                 /* threads sharing a batch of DFTs */
    double *work[FV_MAXWORK];  /* each one's work */
    float *pre, *gb;           /* C x H x W work: basis image, its gradient */
} fvparam;

/* M may be NULL (Lucid's ImageNet matrix). decorrelate needs C == 3. */
void fvparam_init(fvparam *f, int64_t C, int64_t H, int64_t W, int fft, int decorrelate,
                  const double M[3][3]);
void fvparam_free(fvparam *f);
int64_t fvparam_size(const fvparam *f);
/* img (C x H x W) from p; keeps what the backward needs. */
void fvparam_image(fvparam *f, const float *p, float *img);
/* d objective / d p into gp from d objective / d img (gimg) and the img
 * of the last fvparam_image. */
void fvparam_backward(fvparam *f, const float *gimg, const float *img, float *gp);

/* Lucid's normalised ImageNet matrix. */
void fv_colour_default(double M[3][3]);
/* The matrix from n RGB images (n x 3 x H x W floats in [0,1]); -1 when
 * the pixels have no variance. */
int fv_colour_stats(const float *x, int64_t n, int64_t HW, double M[3][3]);

#endif
